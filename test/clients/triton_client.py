"""Drives the runtime with Triton's tritonclient (HTTP and gRPC), default
settings (binary tensors on HTTP), and prints what it observed as one JSON
object for clients_test.go to check. It asserts nothing itself.

usage: triton_client.py HTTP_HOST:PORT GRPC_HOST:PORT MODEL START
"""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def inputs(mod, horizon, start, step):
    out = []
    for name, value in (("horizon", horizon), ("start", start), ("step", step)):
        t = mod.InferInput(name, [1], "INT64")
        t.set_data_from_numpy(np.array([value], dtype=np.int64))  # default: binary_data=True over HTTP
        out.append(t)
    return out


def error_of(call):
    try:
        call()
    except InferenceServerException as e:
        return e.message()
    return None


def forecast(result):
    return {"ds": result.as_numpy("ds").tolist(), "yhat": result.as_numpy("yhat").tolist()}


def run_http(url, model, start):
    c = httpclient.InferenceServerClient(url=url)
    obs = {
        "live": c.is_server_live(),
        "ready": c.is_server_ready(),
        "model_ready": c.is_model_ready(model),
        "unknown_model_ready": c.is_model_ready("no-such-model"),
        "extensions": c.get_server_metadata()["extensions"],
    }
    md = c.get_model_metadata(model)
    obs["metadata"] = {"name": md["name"], "inputs": [i["name"] for i in md["inputs"]], "outputs": [o["name"] for o in md["outputs"]]}
    # No outputs named: the client asks for all of them as binary.
    r = c.infer(model, inputs(httpclient, 600, start, 60))
    obs["all"] = forecast(r)
    resp = r.get_response()
    obs["all_binary"] = [o["name"] for o in resp["outputs"] if "binary_data_size" in o.get("parameters", {})]
    obs["policy"] = resp.get("parameters", {}).get("policy")
    # Named outputs, default binary_data=True.
    r = c.infer(model, inputs(httpclient, 600, start, 60), outputs=[httpclient.InferRequestedOutput("yhat")], request_id="r-2")
    obs["yhat_only"] = r.as_numpy("yhat").tolist()
    obs["yhat_only_names"] = [o["name"] for o in r.get_response()["outputs"]]
    obs["yhat_only_id"] = r.get_response().get("id")
    obs["negative_horizon_error"] = error_of(lambda: c.infer(model, inputs(httpclient, -60, start, 60)))
    obs["unknown_model_error"] = error_of(lambda: c.infer("no-such-model", inputs(httpclient, 600, start, 60)))
    # The server still serves after the errors.
    obs["after_errors"] = forecast(c.infer(model, inputs(httpclient, 600, start, 60)))
    c.close()
    return obs


def run_grpc(url, model, start):
    c = grpcclient.InferenceServerClient(url=url)
    obs = {
        "live": c.is_server_live(),
        "ready": c.is_server_ready(),
        "model_ready": c.is_model_ready(model),
        "extensions": list(c.get_server_metadata(as_json=True)["extensions"]),
    }
    md = c.get_model_metadata(model, as_json=True)
    obs["metadata"] = {"name": md["name"], "inputs": [i["name"] for i in md["inputs"]], "outputs": [o["name"] for o in md["outputs"]]}
    r = c.infer(model, inputs(grpcclient, 600, start, 60))
    obs["all"] = forecast(r)
    params = r.get_response(as_json=True).get("parameters", {})
    obs["policy"] = json.loads(params["policy"]["string_param"]) if "policy" in params else None
    obs["negative_horizon_error"] = error_of(lambda: c.infer(model, inputs(grpcclient, -60, start, 60)))
    obs["unknown_model_error"] = error_of(lambda: c.get_model_metadata("no-such-model"))
    obs["after_errors"] = forecast(c.infer(model, inputs(grpcclient, 600, start, 60)))
    c.close()
    return obs


def main():
    http_url, grpc_url, model, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    json.dump({"http": run_http(http_url, model, start), "grpc": run_grpc(grpc_url, model, start)}, sys.stdout)


if __name__ == "__main__":
    main()
