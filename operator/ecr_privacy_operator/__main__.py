"""``python -m ecr_privacy_operator``: the same as the ``ecr-privacy-operator`` command."""

from ecr_privacy_operator.main import main

raise SystemExit(main())
