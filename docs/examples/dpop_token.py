# A DPoP-bound access token (RFC 9449) for a service, with joserfc and the
# standard library (pip install joserfc). The test suite runs this file.
import base64, json, os, time, uuid, urllib.parse, urllib.request
from joserfc import jwt
from joserfc.jwk import ECKey

issuer = os.environ.get("ISSUER", "http://127.0.0.1:8080")
client_id, client_secret = os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]
meta = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
token_endpoint = meta["token_endpoint"]

# The client's own key pair: the token will be usable only with proofs by it.
key = ECKey.generate_key("P-256")
header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": token_endpoint, "iat": int(time.time())}
proof = jwt.encode(header, claims, key)

basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
request = urllib.request.Request(
    token_endpoint,
    data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    headers={"Authorization": f"Basic {basic}", "DPoP": proof},
)
tokens = json.load(urllib.request.urlopen(request))
print(json.dumps({"token_type": tokens["token_type"], "access_token": tokens["access_token"],
                  "jkt": key.thumbprint()}))
