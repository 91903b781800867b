def app(environ, start_response):
    start_response("200 OK", [("content-type","text/plain")])
    return [repr({k: v for k, v in environ.items() if k.isupper()}).encode()]
