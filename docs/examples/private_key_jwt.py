# A client-credentials token with private_key_jwt (RFC 7523, OIDC Core §9),
# with joserfc and the standard library (pip install joserfc). The test
# suite runs this file.
#   python3 private_key_jwt.py keygen client-key.json > client-jwks.json
#       writes a new P-256 private key (mode 0600) and prints the public JWK
#       Set to register: frontdesk clients create ... --jwks-file client-jwks.json
#   ISSUER=... CLIENT_ID=... python3 private_key_jwt.py token client-key.json
#       prints {"token_type", "access_token"}
import json, os, sys, time, uuid, urllib.parse, urllib.request
from joserfc import jwt
from joserfc.jwk import ECKey

command, key_file = sys.argv[1], sys.argv[2]
if command == "keygen":
    key = ECKey.generate_key("P-256")
    key_id = key.thumbprint()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(key.as_dict(private=True, kid=key_id), f)
    print(json.dumps({"keys": [key.as_dict(private=False, kid=key_id, alg="ES256", use="sig")]}))
    sys.exit(0)

issuer = os.environ.get("ISSUER", "http://127.0.0.1:8080")
client_id = os.environ["CLIENT_ID"]
with open(key_file) as f:
    key = ECKey.import_key(json.load(f))
meta = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))

# iss = sub = the client_id, aud = the issuer, a short exp, a jti used once.
now = int(time.time())
claims = {"iss": client_id, "sub": client_id, "aud": meta["issuer"],
          "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)

request = urllib.request.Request(meta["token_endpoint"], data=urllib.parse.urlencode({
    "grant_type": "client_credentials",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": assertion,
}).encode())
tokens = json.load(urllib.request.urlopen(request))
print(json.dumps({"token_type": tokens["token_type"], "access_token": tokens["access_token"]}))
