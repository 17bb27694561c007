"""rollboot's `helm test`: an operator pod is Ready, and both CRDs are established and served.

Runs in the operator's image under the operator's service account (whose ClusterRole already lets it list pods, get
CRDs and list both kinds), with the standard library only. The chart passes NAMESPACE, SELECTOR and CRDS (names of
the form plural.group, comma-separated); tests/integration/test_manifests.py also runs this file against the test
control plane, with the service-account directory and the API server address given by environment variables.
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

ACCOUNT = os.environ.get("SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")


def server():
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def get(path):
    with open(os.path.join(ACCOUNT, "token")) as token:
        request = urllib.request.Request(server() + path, headers={"Authorization": "Bearer " + token.read().strip()})
    context = ssl.create_default_context(cafile=os.path.join(ACCOUNT, "ca.crt"))
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.load(response)


def condition(obj, kind):
    return any(c.get("type") == kind and c.get("status") == "True" for c in obj.get("status", {}).get("conditions", []))


def failures():
    namespace, selector = os.environ["NAMESPACE"], os.environ["SELECTOR"]
    found = []
    query = urllib.parse.urlencode({"labelSelector": selector})
    pods = get(f"/api/v1/namespaces/{namespace}/pods?{query}")["items"]
    ready = [p["metadata"]["name"] for p in pods if condition(p, "Ready")]
    print(f"operator pods ({selector}) in {namespace}: {len(pods)}, Ready: {', '.join(ready) or 'none'}")
    if not ready:
        found.append(f"no operator pod ({selector}) is Ready in {namespace}")
    for name in os.environ["CRDS"].split(","):
        try:
            crd = get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        except urllib.error.HTTPError as error:
            found.append(f"CRD {name}: {error.code} {error.reason}")
            continue
        if not condition(crd, "Established"):
            found.append(f"CRD {name} is not Established")
            continue
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for version in (v["name"] for v in crd["spec"]["versions"] if v.get("served")):
            try:
                items = get(f"/apis/{group}/{version}/{plural}?limit=1")["items"]
            except urllib.error.HTTPError as error:
                found.append(f"{plural}.{group}/{version} is not served: {error.code} {error.reason}")
                continue
            print(f"{plural}.{group}/{version} is served ({len(items)} listed)")
    return found


if __name__ == "__main__":
    problems = failures()
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)
