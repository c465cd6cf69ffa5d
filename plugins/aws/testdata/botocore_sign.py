"""Signs requests with botocore's SigV4Auth at a fixed time, for botocore_tests.rs.

Reads a JSON list of requests on stdin (method, scheme, host, path, raw query pairs, headers,
body, credentials, region, service, amz_date) and writes, for each, botocore's canonical
request, string to sign and Authorization header as a JSON list.
"""

import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class Capturing(botocore.auth.SigV4Auth):
    """SigV4Auth keeping the texts it signs."""

    def canonical_request(self, request):
        self.captured_canonical = super().canonical_request(request)
        return self.captured_canonical

    def string_to_sign(self, request, canonical_request):
        self.captured_string = super().string_to_sign(request, canonical_request)
        return self.captured_string


def sign(case):
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in case["query"]
    )
    url = f"{case['scheme']}://{case['host']}{case['path']}"
    if query:
        url += "?" + query
    request = AWSRequest(
        method=case["method"],
        url=url,
        data=case["body"].encode("utf-8"),
        headers=dict(case["headers"]),
    )
    credentials = Credentials(
        case["access_key_id"], case["secret_access_key"], case.get("session_token")
    )
    when = datetime.datetime.strptime(case["amz_date"], "%Y%m%dT%H%M%SZ")
    signer = Capturing(credentials, case["service"], case["region"])
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        signer.add_auth(request)
    return {
        "canonical_request": signer.captured_canonical,
        "string_to_sign": signer.captured_string,
        "authorization": request.headers["Authorization"],
        "botocore": botocore.__version__,
    }


json.dump([sign(case) for case in json.load(sys.stdin)], sys.stdout)
