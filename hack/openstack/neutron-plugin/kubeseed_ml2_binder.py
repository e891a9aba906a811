"""An ML2 mechanism driver that binds every port, for kubeseed's OpenStack test cloud.

The test cloud runs neutron-server with no agents (no data plane). Every shipped ML2
driver binds a port only for a host with a live agent, and the "test" driver asserts
unit-test invariants that real Nova bindings break, so without this driver servers go to
ERROR ("Exceeded maximum number of retries"). Binding the first segment with the OVS VIF
type is what Nova's fake driver and Octavia's interface attach need. Registered through
kubeseed_ml2_binder-1.0.dist-info/entry_points.txt; hack/openstack/up.sh puts this
directory on neutron-server's PYTHONPATH.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True},
                                status=constants.PORT_STATUS_ACTIVE)
            return
