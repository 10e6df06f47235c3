import sys

from llmline.cli import main

sys.exit(main())
