"""A read-only slice of the Neutron v2.0 API: what clients look up before calling Octavia.

`openstack loadbalancer create --vip-subnet-id private-subnet` resolves the subnet through
the network endpoint before it sends anything to the load-balancer API. With
`--os-endpoint` both endpoints are this server, so it answers those lookups from the
configured network driver: the subnets and networks VIPs can really be allocated on.
"""
