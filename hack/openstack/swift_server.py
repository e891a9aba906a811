"""Runs one of Swift's servers with swift.conf read from the test cloud's config directory.

    swift_server.py SWIFT_DIR /usr/bin/swift-<kind>-server CONF [-v]

Swift 2.30 reads swift.conf (the hash path prefix and suffix, the storage policies, the
constraints) from the fixed path /etc/swift/swift.conf when its modules are imported; no
option or environment variable moves it, and the package's copy says "changeme". Before the
packaged console script runs, this points swift.common.utils at SWIFT_DIR/swift.conf (the
same set_swift_dir() that swift-recon's --swiftdir uses) and reloads what was read from the
old one. The servers' own swift_dir option (rings, mime.types) names the same directory.
"""
import runpy
import sys

from swift.common import constraints, storage_policy, utils

swift_dir, script = sys.argv[1], sys.argv[2]
utils.set_swift_dir(swift_dir)  # re-reads the hash prefix/suffix; exits if both are missing
storage_policy.reload_storage_policies()
constraints.reload_constraints()
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
