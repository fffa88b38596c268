"""Drives the runtime with the KServe Python SDK's InferenceRESTClient (v2,
binary and JSON tensors) and InferenceGRPCClient, and prints what it
observed as one JSON object for clients_test.go to check. It asserts
nothing itself.

usage: kserve_client.py HTTP_BASE_URL GRPC_HOST:PORT MODEL START
"""

import asyncio
import json
import sys

import grpc
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def request(model, horizon, start, step, binary, request_id="k-1"):
    ins = []
    for name, value in (("horizon", horizon), ("start", start), ("step", step)):
        t = InferInput(name=name, shape=[1], datatype="INT64")
        t.set_data_from_numpy(np.array([value], dtype=np.int64), binary_data=binary)
        ins.append(t)
    params = {"binary_data_output": True} if binary else None
    return InferRequest(model_name=model, infer_inputs=ins, request_id=request_id, parameters=params)


def forecast(resp):
    out = {o.name: o.as_numpy().tolist() for o in resp.outputs}
    return {"ds": out.get("ds"), "yhat": out.get("yhat")}


async def run_rest(base, model, start):
    c = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    obs = {
        "live": await c.is_server_live(base),
        "ready": await c.is_server_ready(base),
        "model_ready": await c.is_model_ready(base, model),
    }
    headers = {}
    r = await c.infer(base, request(model, 600, start, 60, binary=True), model_name=model, response_headers=headers)
    obs["binary"] = forecast(r)
    obs["binary_header"] = headers.get("inference-header-content-length")
    obs["binary_id"] = r.id
    obs["policy"] = (r.parameters or {}).get("policy")
    r = await c.infer(base, request(model, 600, start, 60, binary=False), model_name=model)
    obs["json"] = forecast(r)
    try:
        await c.infer(base, request(model, -60, start, 60, binary=True), model_name=model)
        obs["negative_horizon_error"] = None
    except httpx.HTTPStatusError as e:
        obs["negative_horizon_error"] = str(e)
        obs["negative_horizon_status"] = e.response.status_code
    obs["after_errors"] = forecast(await c.infer(base, request(model, 600, start, 60, binary=True), model_name=model))
    await c.close()
    return obs


async def run_grpc(url, model, start):
    c = InferenceGRPCClient(url=url, timeout=30)
    obs = {
        "live": await c.is_server_live(),
        "ready": await c.is_server_ready(),
        "model_ready": await c.is_model_ready(model),
    }
    r = await c.infer(request(model, 600, start, 60, binary=True))
    obs["all"] = forecast(r)
    try:
        await c.infer(request(model, -60, start, 60, binary=True))
        obs["negative_horizon_error"] = None
    except grpc.RpcError as e:
        obs["negative_horizon_error"] = "%s: %s" % (e.code().name, e.details())
    obs["after_errors"] = forecast(await c.infer(request(model, 600, start, 60, binary=True)))
    await c.close()
    return obs


async def main():
    base, grpc_url, model, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    json.dump({"rest": await run_rest(base, model, start), "grpc": await run_grpc(grpc_url, model, start)}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
