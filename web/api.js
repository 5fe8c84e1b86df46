// The node's HTTP/JSON API as both web UIs call it (app.js and the embeddable chat.js): JSON in
// and out, a bearer token for the person's own calls, and the API's error message as it words
// it. Paths are relative to `base`, the gateway that served the script, so that the chat widget
// embedded on an organisation's own site calls the gateway it came from (cross-origin, without
// cookies) and the page calls its own origin.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;  // 0: the network failed
  }
}

export function apiClient(base) {
  const sameOrigin = base.origin === location.origin;
  // The parsed JSON answer, or an ApiError. `token`: the person's bearer token.
  async function call(method, path, body, { token, ...options } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(new URL(path.replace(/^\//, ""), base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: sameOrigin ? "same-origin" : "omit",
        mode: "cors",
        ...options,
      });
    } catch {
      throw new ApiError(0, "");
    }
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (json && json.message) || response.statusText);
    }
    return json;
  }
  // Whether the node offers the development sign-in (its issuer publishes keys): asked once.
  let devSignIn = null;
  async function devSignInOffered() {
    if (devSignIn === null) {
      try {
        const response = await fetch(new URL("v1/dev-identity/jwks.json", base), {
          credentials: sameOrigin ? "same-origin" : "omit", mode: "cors" });
        devSignIn = response.ok;
      } catch {
        return false;  // asked again next time
      }
    }
    return devSignIn;
  }
  return { call, post: (path, body, options = {}) => call("POST", path, body, options),
           devSignInOffered };
}
