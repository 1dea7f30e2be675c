"""`python -m emberformer.data.generate out=DIR [key=value ...]`: see emberformer/data/generate/generator.py."""

from emberformer.data.generate.generator import main

main()
