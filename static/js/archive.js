// The archive's REST side, shared by /replays and /replays/{id}: fetching with the server's reason on
// failure, and the words for a game's result. Every string from the API goes into the page as text.

/** GET a JSON resource; a failure throws an Error with the server's `detail` (the 404 says which id)
 * as its message and the HTTP status as `status`. */
export async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (typeof body.detail === "string") detail = body.detail;
    } catch {
      // not JSON: the status line is all there is to say
    }
    throw Object.assign(new Error(detail), { status: response.status });
  }
  return response.json();
}

const RESULTS = {
  black: "Black won", white: "White won", draw: "Draw", truncated: "Stopped at the ply limit",
  interrupted: "Interrupted",
};

/** A game's result in words; a game without one has not ended (or was cut off before its end). */
export function resultText(result) {
  return result === null ? "not finished" : RESULTS[result] ?? result;
}

/** Seconds since the epoch (the store's clock) as local date and time. */
export function timeText(seconds) {
  return seconds === null ? "none" : new Date(seconds * 1000).toLocaleString();
}

/** `path` with this page's `?theme=`, so moving between the archive pages keeps the theme. */
export function themed(path) {
  const theme = new URLSearchParams(location.search).get("theme");
  return theme ? `${path}?${new URLSearchParams({ theme })}` : path;
}
