"""Runs nova-compute from python3-nova: the nova-compute package is not installed (it
pulls libvirt and qemu), and the test cloud's fake driver needs neither. Importing
nova.cmd monkey-patches eventlet first, as the packaged console script does."""
import sys

from nova.cmd.compute import main

sys.exit(main())
