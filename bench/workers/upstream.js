// The trivial upstream every benchmarked Worker forwards to, over the network: 200 with a small body.
// It reports what it received in two response headers, so the harness can check once, before
// measuring, that the identity was forwarded and the bearer token was not.
export default {
  fetch(request) {
    return new Response("ok\n", {
      headers: {
        "content-type": "text/plain",
        "x-bench-subject": request.headers.get("x-auth-subject") ?? "",
        "x-bench-authorization": request.headers.has("authorization") ? "present" : "absent",
      },
    });
  },
};
