"""moto_server with a Redshift behind its Data API: scripts/redshift_double.py runs the statements on PostgreSQL
(AUTOLOADER_TEST_POSTGRES) under Redshift's documented rules. Everything else (S3, SQS, ...) is moto as shipped.
What this proves and what it cannot is in README -> Redshift."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redshift_double  # noqa: E402
from moto.server import main  # noqa: E402

redshift_double.install()

if __name__ == "__main__":
    main(sys.argv[1:])
