"""The AWS Lambda Invoke API, so boto3, the AWS CLI and every SDK can call kfn functions.

``POST /2015-03-31/functions/{FunctionName}/invocations`` with ``endpoint_url`` pointed at the
gateway. Function names map to namespaces the way kfn's ARNs do: ``hello`` is ``default/hello``,
``team_hello`` is ``team/hello`` (a DNS-1123 label never contains ``_``, so this is unambiguous),
and full or partial ARNs (``arn:aws:lambda:us-east-1:000000000000:function:team_hello``) carry
the same name. The only qualifier is ``$LATEST``. Errors carry ``x-amzn-ErrorType`` so the SDKs
raise their own exception classes (``ResourceNotFoundException``, ``TooManyRequestsException``…).
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from aiohttp import web

from kfn import names
from kfn_gateway import bodies, forwarding, requestids
from kfn_gateway.keys import DISPATCHER, INVOKER
from kfn_gateway.outcomes import GatewayError, Kind
from kfn_gateway.queueing import new_event
from kfn_gateway.settings import ASYNC_BODY_LIMIT, SYNC_BODY_LIMIT

__all__ = ["invoke", "parse_function_name"]

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def parse_function_name(raw: str, qualifier: str | None = None) -> tuple[str, str]:
    """(namespace, name) for a FunctionName as the SDKs send it; raises GatewayError 404. Pure."""
    not_found = GatewayError(404, "ResourceNotFoundException", f"Function not found: {raw}")
    name = raw
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) not in (7, 8) or parts[1] != "aws" or parts[2] != "lambda" or parts[5] != "function":
            raise not_found
        name = ":".join(parts[6:])
    elif ":function:" in name:  # partial ARN: 000000000000:function:name
        name = name.split(":function:", 1)[1]
    if ":" in name:
        name, inline_qualifier = name.split(":", 1)
        if qualifier is not None and qualifier != inline_qualifier:
            raise GatewayError(400, "InvalidParameterValueException",
                               "The derived qualifier from the function name does not match the specified qualifier.")
        qualifier = inline_qualifier
    if qualifier not in (None, "$LATEST"):
        raise GatewayError(404, "ResourceNotFoundException",
                           f"Function not found: {raw} (kfn serves only the $LATEST version)")
    namespace, _, short = name.rpartition("_")
    namespace = namespace or "default"
    if not (names.is_dns1123_label(namespace) and names.is_dns1123_label(short)):
        raise not_found
    return namespace, short


def _check_client_context(value: str) -> None:
    """Lambda's rule: base64 of a JSON object, at most 3,583 bytes."""
    invalid = GatewayError(400, "InvalidRequestContentException",
                           "Client context must be a valid Base64-encoded JSON object of at most 3583 bytes.")
    if len(value) > 3583:
        raise invalid
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        raise invalid from None
    if not isinstance(decoded, dict):
        raise invalid


def _aws_error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"Type": "User" if status < 500 else "Service", "message": message,
            "errorType": error_type, "errorMessage": message}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers={"x-amzn-ErrorType": error_type, **(headers or {})})


async def invoke(request: web.Request) -> web.Response:
    request_id = requestids.new()
    try:
        return await _invoke(request, request_id)
    except GatewayError as exc:
        return _aws_error(exc.status, exc.error_type, exc.message, {"x-amzn-RequestId": request_id, **exc.headers})
    except web.HTTPRequestEntityTooLarge:
        return _aws_error(413, "RequestTooLargeException",
                          f"Request must be smaller than {SYNC_BODY_LIMIT} bytes for the InvokeFunction operation",
                          {"x-amzn-RequestId": request_id})


async def _invoke(request: web.Request, request_id: str) -> web.Response:
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type not in INVOCATION_TYPES:
        raise GatewayError(400, "InvalidParameterValueException",
                           f"X-Amz-Invocation-Type must be one of {', '.join(INVOCATION_TYPES)}")
    log_type = request.headers.get("X-Amz-Log-Type", "None")
    if log_type not in ("None", "Tail"):
        raise GatewayError(400, "InvalidParameterValueException", "X-Amz-Log-Type must be None or Tail")
    namespace, name = parse_function_name(request.match_info["name"], request.query.get("Qualifier"))
    invoker = request.app[INVOKER]
    state = invoker.state(namespace, name)
    await invoker.authorize(state, request.headers)
    common = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
    if invocation_type == "DryRun":
        return web.Response(status=204, headers=common)
    if invocation_type == "Event":
        payload = await bodies.read_bounded(request, ASYNC_BODY_LIMIT)
    else:
        payload = await request.read()
    if payload.strip():
        try:
            json.loads(payload)
        except ValueError as exc:
            raise GatewayError(400, "InvalidRequestContentException",
                               f"Could not parse request body into json: {exc}") from None
    else:
        payload = b"{}"
    if invocation_type == "Event":
        event = new_event(state.key, "invoke", payload, time.time(), request_id)
        await request.app[DISPATCHER].enqueue([event], "invoke")
        return web.Response(status=202, headers=common)
    context = {name: request.headers[name] for name in forwarding.CONTEXT_HEADERS if name in request.headers}
    if "X-Amz-Client-Context" in context:
        _check_client_context(context["X-Amz-Client-Context"])
    outcome = await invoker.invoke(state, payload, "invoke", request_id, log_tail=log_type == "Tail",
                                   context=context)
    headers = {**common, "Content-Type": "application/json"}
    if outcome.kind is not Kind.SUCCESS:
        headers["X-Amz-Function-Error"] = "Unhandled"
    if log_type == "Tail" and outcome.log_tail is not None:
        headers["X-Amz-Log-Result"] = outcome.log_tail
    return web.Response(status=200, body=outcome.payload, headers=headers)
