// The API as the page uses it: the access token (asked once, kept for this tab) and one error shape.

const TOKEN_KEY = "brainedge-serve-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// fetch() with the token; resolves to the JSON answer, rejects with an ApiError carrying the server's message.
export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {
    throw new ApiError(0, "the server cannot be reached: is brainedge-serve still running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error : `the server answered ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

// Show the token form with the server's reason; once a token is typed, keep it and call onToken().
export function askForToken(reason, onToken) {
  const panel = document.getElementById("token-panel");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  document.getElementById("token-why").textContent = reason;
  panel.hidden = false;
  input.focus();
  form.onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    panel.hidden = true;
    onToken();
  };
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
