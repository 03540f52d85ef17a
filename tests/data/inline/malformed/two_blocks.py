# /// script
# dependencies = ["numpy"]
# ///

import numpy

# /// script
# dependencies = ["scipy"]
# ///
