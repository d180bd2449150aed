"""Runs inside Keystone's own venv: keystone-manage's set-up steps in one process.

`python keystone_setup.py <keystone.conf> <public url>`, bootstrap password in
OS_BOOTSTRAP_PASSWORD. The same steps as `keystone-manage db_sync`, `fernet_setup`,
`credential_setup` and `bootstrap` one after the other, but importing Keystone once
(several seconds each time) instead of four times.
"""

import grp
import os
import pwd
import sys

from keystone.cmd import cli


def main() -> None:
    conf, url = sys.argv[1], sys.argv[2]
    owner = [
        "--keystone-user",
        pwd.getpwuid(os.getuid()).pw_name,
        "--keystone-group",
        grp.getgrgid(os.getgid()).gr_name,
    ]
    steps = [
        ["db_sync"],
        ["fernet_setup", *owner],
        ["credential_setup", *owner],
        [
            "bootstrap",
            "--bootstrap-admin-url",
            url,
            "--bootstrap-internal-url",
            url,
            "--bootstrap-public-url",
            url,
            "--bootstrap-region-id",
            "RegionOne",
        ],
    ]
    for step in steps:
        # keystone-manage parses its command line once per process; each step needs its own.
        cli.CONF.clear()
        cli.main(argv=["keystone-manage", "--config-file", conf, *step])


if __name__ == "__main__":
    main()
