"""Networks: encoder/decoder layers and the image and speech VQ-VAEs built from them."""
