// A real OpenID Provider for the OpenID Connect login tests: oidc-provider (a certified
// implementation) with one confidential client, static users and its development login and
// consent pages, which a test fills in with headless chromium (tests/e2e/oidc.py).
//
//   OIDC_PROVIDER_DIR=~/.cache/keel-tools/oidc-provider-9.13.3 PORT=… CLIENT_ID=… \
//   CLIENT_SECRET=… REDIRECT_URI=… node tests/e2e/oidc_provider.mjs
//
// OIDC_PROVIDER_DIR is where scripts/install-oidc-provider.sh installed the package. The issuer
// is http://127.0.0.1:PORT; once it listens the script prints "oidc-provider ready at <issuer>".
//
// Two users exist to get tokens no honest provider issues, signed with the provider's own key
// so that only the claim is wrong: the id_token of mallory-aud is for another audience, the one
// of mallory-exp expired an hour ago. Any password signs anyone in.

import path from 'node:path';
import { pathToFileURL } from 'node:url';

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc_provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const dir = env('OIDC_PROVIDER_DIR');
const port = Number(env('PORT'));
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET');
const redirectUri = env('REDIRECT_URI');
const issuer = `http://127.0.0.1:${port}`;

// By absolute path: the packages live outside this repository, and ESM imports ignore
// NODE_PATH. The paths are the packages' own entry points (oidc-provider's "main", jose's
// "exports" ".").
const modules = path.resolve(dir, 'node_modules');
const { default: Provider } = await import(
  pathToFileURL(path.join(modules, 'oidc-provider/lib/index.js')).href);
const jose = await import(pathToFileURL(path.join(modules, 'jose/dist/webapi/index.js')).href);

const USERS = {
  alice: { email: 'alice@example.com', name: 'Alice Anders', groups: ['admins'] },
  bob: { email: 'bob@example.com', name: 'Bob Berg', groups: ['engineering'] },
  carol: { email: 'carol@example.com', name: 'Carol Chen', groups: [] },
  // Outside the example.com domain, for tests restricting logins to a domain.
  dave: { email: 'dave@elsewhere.test', name: 'Dave Doe', groups: ['engineering'] },
  'mallory-aud': { email: 'mallory-aud@example.com', name: 'Mallory Aud', groups: ['engineering'] },
  'mallory-exp': { email: 'mallory-exp@example.com', name: 'Mallory Exp', groups: ['engineering'] },
};

// A fresh key per run: nothing outside the test needs to trust it, keel fetches it from /jwks.
const KID = 'keel-e2e-1';
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const privateJwk = { ...(await jose.exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [privateJwk] },
  // Scope name -> the claims it releases; "groups" is not a standard scope.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'picture'],
    groups: ['groups'],
  },
  // Put the scopes' claims in the id_token itself, as most providers do, instead of only at
  // the userinfo endpoint.
  conformIdTokenClaims: false,
  // Every authorization request must carry a code_challenge (oidc-provider only knows S256).
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const user = Object.hasOwn(USERS, id) ? USERS[id] : undefined;
    if (!user) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: true,
          name: user.name,
          preferred_username: id,
          groups: user.groups,
        };
      },
    };
  },
});

// Problems the provider reports only as events; without these the test's log would show
// nothing when a login fails on the provider's side. Error messages, no tokens.
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'jwks.error', 'discovery.error', 'end_session.error']) {
  provider.on(event, (ctx, err) => {
    const detail = err.error_description ? ` (${err.error_description})` : '';
    console.error(`oidc-provider ${event}: ${err.name}: ${err.message}${detail}`);
  });
}

// The development pages @import a Google font. The tests run without a network, where that
// request can only fail and, depending on the resolver, might hold up the page; the font is
// not needed to fill in a form.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.response.is('html') && typeof ctx.body === 'string') {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);?/g, '');
  }
});

// The forged id_tokens: re-signed with the provider's key under the same header, so only the
// named claims differ from what the provider issued (nonce, sub, iss… stay).
const FORGE = {
  'mallory-aud': (claims) => ({ ...claims, aud: 'someone-else' }),
  'mallory-exp': (claims) => {
    const now = Math.floor(Date.now() / 1000);
    return { ...claims, iat: now - 7200, exp: now - 3600 };
  },
};

provider.use(async (ctx, next) => {
  await next();
  if (ctx.method !== 'POST' || ctx.oidc?.route !== 'token' || ctx.status !== 200
      || typeof ctx.body?.id_token !== 'string') {
    return;
  }
  const idToken = ctx.body.id_token;
  const claims = jose.decodeJwt(idToken);
  const forge = Object.hasOwn(FORGE, claims.sub) ? FORGE[claims.sub] : undefined;
  if (!forge) {
    return;
  }
  const header = jose.decodeProtectedHeader(idToken);
  const payload = new TextEncoder().encode(JSON.stringify(forge(claims)));
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.CompactSign(payload).setProtectedHeader(header).sign(privateKey),
  };
  console.log(`oidc-provider: forged the id_token of ${claims.sub}`);
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
