// A certified OpenID provider (npm oidc-provider) for Bindery's login
// tests. The test framework starts it with:
//
//   PORT           port to listen on
//   HOST           address to listen on and name in the issuer URL
//                  (localhost, on 127.0.0.1, when empty)
//   CLIENT_ID      the static client's ID
//   CLIENT_SECRET  the static client's secret
//   REDIRECT_URIS  comma-separated redirect URIs of the client
//   GROUPS         JSON object: user name -> list of groups
//   PKCE           "optional" for clients without PKCE (kube-bind's
//                  example-backend); required otherwise
//
// Its development login page accepts any user name and password; the
// consent page follows.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const host = process.env.HOST || 'localhost';
const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
const groups = JSON.parse(process.env.GROUPS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: process.env.REDIRECT_URIS.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => process.env.PKCE !== 'optional' },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name', 'groups'], email: ['email', 'email_verified'] },
  // Put the scope's claims into the ID token, where the backend reads them.
  conformIdTokenClaims: false,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: sub, email: `${sub}@example.com`, email_verified: true, groups: groups[sub] || [] }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['bindery-test-only'] },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));
provider.on('authorization.error', (ctx, err) => console.error('authorization.error', err.message, err.error_description || ''));

provider.listen(port, host === 'localhost' ? '127.0.0.1' : host, () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
