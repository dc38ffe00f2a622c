// A DPoP client (RFC 9449) built on panva's oauth4webapi, configured only
// from frontdesk's discovery document. Driven by
// crates/frontdesk/tests/it/interop_node.rs, with MODE:
//   client_credentials (CLIENT_ID, CLIENT_SECRET):
//     stdout line 1: {"token", "jkt", "public_jwk", "nonce_retries"} or {"error"}
//   code (CLIENT_ID of a public client, REDIRECT_URI):
//     stdout line 1: {"authorization_url", "jkt"}
//     stdin  line 1: the callback URL the browser was redirected to
//     stdout line 2: {"token", "claims", "userinfo", "refreshed", "jkt",
//                     "public_jwk", "nonce_retries"} or {"error"}
// "token" and "refreshed" are the token responses as the server sent them
// (token_type unchanged), after the library's own checks passed.
// "nonce_retries" counts the requests the library had to repeat because the
// server asked for a DPoP nonce (use_dpop_nonce), per endpoint.
import * as oauth from 'oauth4webapi';
import { createInterface } from 'node:readline';

const { ISSUER, MODE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;

// The test server runs on http://127.0.0.1; production issuers are https.
const insecure = { [oauth.allowInsecureRequests]: true };
const nonceRetries = { token: 0, userinfo: 0 };

// oauth4webapi's documented nonce pattern (examples/dpop.ts): the DPoP
// handle has cached the server's DPoP-Nonce from the failed response, so
// the same request, made again, carries it. `raw` keeps the body as sent.
async function withNonceRetry(endpoint, request, check) {
  const attempt = async () => {
    const response = await request();
    let raw;
    try {
      raw = await response.clone().json();
    } catch {
      raw = undefined;
    }
    return { raw, result: await check(response) };
  };
  try {
    return await attempt();
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) {
      nonceRetries[endpoint] += 1;
      return attempt();
    }
    throw err;
  }
}

async function discover() {
  const issuer = new URL(ISSUER);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function clientCredentials(as, client, keys) {
  const DPoP = oauth.DPoP(client, keys);
  const auth = oauth.ClientSecretBasic(CLIENT_SECRET);
  const { raw } = await withNonceRetry(
    'token',
    () => oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'photos:read' }, { DPoP, ...insecure }),
    (response) => oauth.processClientCredentialsResponse(as, client, response),
  );
  return { token: raw, jkt: await DPoP.calculateThumbprint() };
}

async function code(as, client, keys) {
  const DPoP = oauth.DPoP(client, keys);
  const auth = oauth.None();
  const jkt = await DPoP.calculateThumbprint();
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', REDIRECT_URI);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', 'openid profile email offline_access');
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  // RFC 9449 §10: bind the code to the DPoP key.
  url.searchParams.set('dpop_jkt', jkt);
  console.log(JSON.stringify({ authorization_url: url.href, jkt }));

  const rl = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve) => rl.once('line', resolve));
  rl.close();

  const params = oauth.validateAuthResponse(as, client, new URL(callback), state);
  const { raw: token, result: tokens } = await withNonceRetry(
    'token',
    () => oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT_URI, verifier, { DPoP, ...insecure }),
    (response) => oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true }),
  );
  const claims = oauth.getValidatedIdTokenClaims(tokens);

  // Userinfo with a handle of the same key that has not seen a nonce yet,
  // so that with use_dpop_nonce the resource's own challenge is answered.
  const resourceDPoP = oauth.DPoP(client, keys);
  const { result: userinfo } = await withNonceRetry(
    'userinfo',
    () => oauth.userInfoRequest(as, client, tokens.access_token, { DPoP: resourceDPoP, ...insecure }),
    (response) => oauth.processUserInfoResponse(as, client, claims.sub, response),
  );

  const { raw: refreshed } = await withNonceRetry(
    'token',
    () => oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, { DPoP, ...insecure }),
    (response) => oauth.processRefreshTokenResponse(as, client, response),
  );
  return { token, claims, userinfo, refreshed, jkt };
}

async function main() {
  const as = await discover();
  const client = { client_id: CLIENT_ID };
  // A fresh key per run, as the library's documentation advises per session.
  const keys = await oauth.generateKeyPair('ES256');
  const public_jwk = await crypto.subtle.exportKey('jwk', keys.publicKey);
  let out;
  if (MODE === 'client_credentials') {
    out = await clientCredentials(as, client, keys);
  } else if (MODE === 'code') {
    out = await code(as, client, keys);
  } else {
    throw new Error(`unknown MODE ${MODE}`);
  }
  console.log(JSON.stringify({
    ...out,
    public_jwk,
    nonce_retries: nonceRetries,
    dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported,
  }));
}

main().catch((e) => {
  console.log(JSON.stringify({
    error: String(e && (e.code || e.message) || e),
    message: String(e && e.message || ''),
    detail: String(e && e.cause && (e.cause.error_description || e.cause.error || e.cause.message) || ''),
  }));
  process.exit(1);
});
