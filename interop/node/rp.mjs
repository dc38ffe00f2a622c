// A relying party built on panva's openid-client (an OpenID Certified RP
// library), configured only from frontdesk's discovery document. Driven by
// crates/frontdesk/tests/it/interop_node.rs:
//   stdout line 1: {"authorization_url": …}
//   stdin  line 1: the callback URL the browser was redirected to
//   stdout line 2: {"sub", "claims", "userinfo", "refreshed"} or {"error"}
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

// SCOPE (default below) and CLAIMS (the OpenID Connect Core §5.5 `claims`
// parameter, JSON) are optional.
const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SCOPE, CLAIMS } = process.env;

async function main() {
  // The client authenticates the way it registered (client_secret_basic);
  // frontdesk refuses any other method for that client.
  const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET), {
    // The test server runs on http://127.0.0.1; production issuers are https.
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const parameters = {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE || 'openid profile email offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  if (CLAIMS) parameters.claims = CLAIMS;
  const url = client.buildAuthorizationUrl(config, parameters);
  console.log(JSON.stringify({ authorization_url: url.href }));

  const rl = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve) => rl.once('line', resolve));
  rl.close();

  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  console.log(JSON.stringify({
    sub: claims.sub,
    claims,
    userinfo,
    refreshed: {
      rotated: refreshed.refresh_token !== tokens.refresh_token,
      sub: refreshed.claims()?.sub,
      claims: refreshed.claims(),
    },
  }));
}

main().catch((e) => {
  console.log(JSON.stringify({ error: String(e && (e.code || e.message) || e), detail: String(e && e.cause && (e.cause.error || e.cause.message) || '') }));
  process.exit(1);
});
