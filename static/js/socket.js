// The page's one connection to /ws: reconnects forever (exponential backoff with jitter), asks for a
// fresh snapshot on a sequence gap, and reports its state ("connecting", "live", "reconnecting").
import { T } from "./protocol.js";

export function connectFeed({ onSnapshot, onMessage, onState, path = "/ws" }) {
  let ws = null;
  let expected = 0;
  let resyncing = false;
  let delay = 500;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;

  function open() {
    onState(ws === null ? "connecting" : "reconnecting");
    ws = new WebSocket(url);
    ws.onopen = () => { delay = 500; };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.t === T.SNAPSHOT) {
        expected = message.v + 1;
        resyncing = false;
        onState("live");
        onSnapshot(message.d);
        return;
      }
      if (resyncing) return;  // waiting for the fresh snapshot
      if (message.v !== expected) {  // something was missed: start over from a snapshot
        resyncing = true;
        ws.send(JSON.stringify({ t: T.RESYNC, v: 0, ts: Date.now(), d: {} }));
        return;
      }
      expected = message.v + 1;
      onMessage(message);
    };
    ws.onclose = () => {
      resyncing = false;
      onState("reconnecting");
      const wait = delay * (0.5 + Math.random() / 2);
      delay = Math.min(delay * 2, 15000);
      setTimeout(open, wait);
    };
  }
  open();
}
