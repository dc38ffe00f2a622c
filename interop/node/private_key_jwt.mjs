// A private_key_jwt client (RFC 7523, OIDC Core §9) built on panva's
// oauth4webapi, configured only from frontdesk's discovery document. Driven
// by crates/frontdesk/tests/it/interop_node.rs (CLIENT_ID, REDIRECT_URI):
//   stdout line 1: {"public_jwk"}   the client's public key, to register
//   stdin  line 1: anything, once the client is registered
//   stdout line 2: {"client_credentials", "authorization_url", "jkt"}
//   stdin  line 2: the callback URL the browser was redirected to
//   stdout line 3: {"token", "claims", "userinfo", "refreshed", "jkt",
//                   "dpop_public_jwk"} or {"error"}
// Client authentication everywhere is the library's PrivateKeyJwt with a
// key made here (crypto.subtle, ES256); the code flow is pushed (PAR, RFC
// 9126), bound to a DPoP key (RFC 9449 §10 dpop_jkt, and proofs at the
// token endpoint and userinfo). "token" and "refreshed" are the token
// responses as the server sent them, after the library's own checks.
import * as oauth from 'oauth4webapi';
import { createInterface } from 'node:readline';

const { ISSUER, CLIENT_ID, REDIRECT_URI } = process.env;

// The test server runs on http://127.0.0.1; production issuers are https.
const insecure = { [oauth.allowInsecureRequests]: true };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function readLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error('stdin closed');
  return value;
}

async function discover() {
  const issuer = new URL(ISSUER);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function main() {
  const as = await discover();
  for (const endpoint of ['token', 'introspection', 'revocation']) {
    const methods = as[`${endpoint}_endpoint_auth_methods_supported`] || [];
    if (!methods.includes('private_key_jwt')) {
      throw new Error(`${endpoint}_endpoint_auth_methods_supported lacks private_key_jwt`);
    }
  }
  if (!as.pushed_authorization_request_endpoint) {
    throw new Error('no pushed_authorization_request_endpoint');
  }
  const client = { client_id: CLIENT_ID };

  // The client's signing key: only its public half leaves this process.
  const signing = await oauth.generateKeyPair('ES256');
  const public_jwk = await crypto.subtle.exportKey('jwk', signing.publicKey);
  console.log(JSON.stringify({ public_jwk }));
  await readLine();
  const auth = oauth.PrivateKeyJwt(signing.privateKey);

  // (a) client credentials.
  const ccResponse = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'photos:read' }, insecure);
  const client_credentials = await oauth.processClientCredentialsResponse(as, client, ccResponse);

  // (b) code + PKCE, pushed, with a DPoP key of its own.
  const dpopKeys = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(client, dpopKeys);
  const jkt = await DPoP.calculateThumbprint();
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const parResponse = await oauth.pushedAuthorizationRequest(as, client, auth, {
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    dpop_jkt: jkt,
  }, { DPoP, ...insecure });
  const { request_uri } = await oauth.processPushedAuthorizationResponse(as, client, parResponse);
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('request_uri', request_uri);
  console.log(JSON.stringify({ client_credentials, authorization_url: url.href, jkt }));

  const callback = await readLine();
  const params = oauth.validateAuthResponse(as, client, new URL(callback), state);
  const codeResponse = await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT_URI, verifier, { DPoP, ...insecure });
  const token = await codeResponse.clone().json();
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, codeResponse, { expectedNonce: nonce, requireIdToken: true });
  const claims = oauth.getValidatedIdTokenClaims(tokens);

  const userinfoResponse = await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP, ...insecure });
  const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub, userinfoResponse);

  const refreshResponse = await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, { DPoP, ...insecure });
  const refreshed = await refreshResponse.clone().json();
  await oauth.processRefreshTokenResponse(as, client, refreshResponse);

  const dpop_public_jwk = await crypto.subtle.exportKey('jwk', dpopKeys.publicKey);
  console.log(JSON.stringify({ token, claims, userinfo, refreshed, jkt, dpop_public_jwk }));
}

main().then(() => process.exit(0), (e) => {
  console.log(JSON.stringify({
    error: String(e && (e.code || e.message) || e),
    message: String(e && e.message || ''),
    detail: String(e && e.cause && (e.cause.error_description || e.cause.error || e.cause.message) || ''),
  }));
  process.exit(1);
});
