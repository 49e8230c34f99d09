"""kfn's function host: serves an unchanged AWS Lambda Python handler over HTTP.

It runs in every function pod and as each worker process of ``kfn dev``. It needs only the
standard library and aiohttp (uvloop when present), so that a function image stays small, and
it imports nothing of kfn's other packages.
"""
