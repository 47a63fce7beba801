// Boots GraphiQL from the vendored UMD builds (globals React, ReactDOM, graphqlWs, GraphiQL).
// It is a file of its own, not an inline <script>, so that the page's Content-Security-Policy can
// forbid inline scripts (script-src 'self'): an injected <script> or on* attribute never runs.
(function () {
  'use strict';

  // The default queries. Their lines stay under 50 characters: in a window 1400 pixels wide the
  // query editor shows about 58, and a longer line is cut off at its edge (the browser test,
  // tests/browser/playground.mjs, checks that none is).
  const ANONYMOUS_QUERY = `# Welcome to the clerk-graphql playground.
#
# You are anonymous. To sign in, put your Clerk
# session token in the Headers editor below:
# {"Authorization": "Bearer <token>"}
{
  health
  viewer {
    userId
  }
}
`;

  // The README's example query ("Quick start").
  const SIGNED_IN_QUERY = `# Welcome to the clerk-graphql playground.
#
# A development token (user_dev_1, role admin)
# is in the Headers editor below. Run this query
# with the play button or Ctrl-Enter.
{
  viewer {
    userId
    role
  }
  adminNote {
    id
    text
  }
  me {
    id
    email
  }
}
`;

  function showNotice(text, isError) {
    const notice = document.getElementById('notice');
    notice.textContent = text;
    notice.classList.toggle('error', Boolean(isError));
    notice.hidden = false;
  }

  async function loadConfig() {
    const response = await fetch('/playground/config.json', { cache: 'no-store' });
    if (!response.ok) {
      throw new Error(`/playground/config.json answered HTTP ${response.status}`);
    }
    return response.json();
  }

  // ws:// or wss:// on this page's host, whatever scheme and host the page was loaded from.
  function websocketUrl(path) {
    const url = new URL(path, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  // Subscriptions go over graphql-ws. A browser cannot set headers on a WebSocket, so the headers
  // of the Headers editor travel as the connection_init payload; one lazy client (it connects on
  // the first subscription only) per distinct set of headers.
  function subscriptionClients(url) {
    let current = null;
    return function clientFor(headers) {
      const key = JSON.stringify(headers || {});
      if (!current || current.key !== key) {
        if (current) {
          current.client.dispose();
        }
        current = {
          key,
          client: graphqlWs.createClient({ url, lazy: true, connectionParams: headers || {} }),
        };
      }
      return current.client;
    };
  }

  // GraphiQL keeps tabs, query history and settings in localStorage. `shouldPersistHeaders: false`
  // keeps headers out of its tab state, but GraphiQL 3.9's query history still records the headers
  // of every run, bearer token included. This storage blanks every `headers` field before writing.
  function withoutHeaders(value) {
    try {
      return JSON.stringify(JSON.parse(value), (key, field) => (key === 'headers' ? null : field));
    } catch {
      return value; // not JSON: a plain string such as a query
    }
  }

  const storage = {
    getItem: (key) => window.localStorage.getItem(key),
    setItem: (key, value) => {
      if (key !== 'graphiql:headers') {
        window.localStorage.setItem(key, withoutHeaders(value));
      }
    },
    removeItem: (key) => window.localStorage.removeItem(key),
    clear: () => {
      for (const key of Object.keys(window.localStorage)) {
        if (key.startsWith('graphiql:')) {
          window.localStorage.removeItem(key);
        }
      }
    },
    get length() {
      return Object.keys(window.localStorage).filter((key) => key.startsWith('graphiql:')).length;
    },
  };

  async function main() {
    const config = await loadConfig();
    if (config.notice) {
      showNotice(config.notice, false);
    }
    const clientFor = subscriptionClients(websocketUrl(config.subscriptionEndpoint));
    // GraphiQL passes the Headers editor's content as `options.headers`.
    const fetcher = (params, options) =>
      GraphiQL.createFetcher({
        url: config.endpoint,
        wsClient: clientFor(options && options.headers),
      })(params, options);

    const props = {
      fetcher,
      defaultQuery: config.devToken ? SIGNED_IN_QUERY : ANONYMOUS_QUERY,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: 'headers',
      // Headers hold bearer tokens: never write them to localStorage.
      shouldPersistHeaders: false,
      storage,
    };
    if (config.devToken) {
      // `headers`, not `defaultHeaders`: the token must replace whatever a restored tab had.
      props.headers = JSON.stringify({ Authorization: `Bearer ${config.devToken}` }, null, 2);
    }
    const container = document.getElementById('graphiql');
    container.textContent = '';
    ReactDOM.createRoot(container).render(React.createElement(GraphiQL, props));
  }

  main().catch((error) => {
    showNotice(`The playground could not start: ${error.message}`, true);
    console.error(error);
  });
})();
