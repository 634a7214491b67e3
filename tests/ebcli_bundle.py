"""Zip a project folder exactly as `eb deploy` does, with the EB CLI's own code.

Run with the interpreter of an environment where awsebcli is installed:

    python tests/ebcli_bundle.py PROJECT_DIR VERSION_LABEL

The folder needs a .elasticbeanstalk/ directory (what `eb init` makes). With a .ebignore
the EB CLI zips the folder as it is on disk, less what .ebignore matches; without one it
asks git for the last commit. Prints the path of the zip
(PROJECT_DIR/.elasticbeanstalk/app_versions/VERSION_LABEL.zip).
"""

import os
import sys

from ebcli.operations import commonops

project, label = sys.argv[1], sys.argv[2]
os.chdir(project)
# The function `eb deploy` and `eb create` call to make the application version's zip.
_, zip_path = commonops._zip_up_project(label, source_control=None)
print(zip_path)
