"""The codec: the .vqc container, entropy coding, and the image and speech coders."""
