-- POST one load balancer per request. BENCH_BODY: the JSON body (each server's own
-- subnet and project: Ostia names private-subnet, upstream's noop network takes any UUID).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
