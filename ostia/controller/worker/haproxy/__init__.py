"""The haproxy renderer: one configuration per load balancer, from the stored graph.

`render` assembles the file (global, defaults, one frontend per listener); `backend` writes
pools, members and health checks; `l7` the frontend's L7 rules; `tls` certificates and TLS
options; `escape` is the whitelist every tenant value passes before it is written.
"""
