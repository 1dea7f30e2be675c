"""python -m emberformer.bench [mode=step|data|loop|all] [key=value ...]

The command's entry point; its arguments and modes: emberformer/bench/cli.py (or --help).
"""

from emberformer.bench.cli import main

if __name__ == "__main__":
    main()
