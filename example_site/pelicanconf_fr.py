# The example site in French: `pelican content -s pelicanconf_fr.py`.
# Every string the plugin writes follows DEFAULT_LANG.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pelicanconf import *  # noqa: F403

DEFAULT_LANG = "fr"
OUTPUT_PATH = "output-fr"
