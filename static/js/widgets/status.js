// Status strip: what the trainer is doing (collecting, updating, evaluating, checkpointing), its
// samples per second and update, the trainer's and the server's CPU and memory, the GPU where there is
// one, and the viewers. From the snapshot, each `status` (the trainer's) and each `server_load`. Every
// figure is a measurement of the process it names; a missing one reads "none".
import { scheduleDraw } from "../frame.js";

const ACTIVITY = {
  collecting: "playing its training games",
  updating: "learning from them (PPO update)",
  evaluating: "being tested against its benchmark opponents",
  checkpointing: "saving a checkpoint",
};

const MARKUP = `
<span class="st-item st-trainer"><b>Trainer</b> <span class="st-activity">offline</span></span>
<span class="st-item st-speed"></span>
<span class="st-item st-trainer-load"></span>
<span class="st-item st-gpu"></span>
<span class="st-item st-server"><b>Server</b> <span class="st-server-load">none yet</span></span>
`;

const mb = (x) => (x >= 1024 ? `${(x / 1024).toFixed(1)} GB` : `${Math.round(x)} MB`);

/** "CPU 187% of 2 cores, RAM 1.2 GB" for one process load; "none" for a missing figure. */
export function describeLoad(load) {
  if (!load) return "CPU none, RAM none";
  const cores = `${load.cores} core${load.cores === 1 ? "" : "s"}`;
  const cpu = load.cpu_percent === null || load.cpu_percent === undefined ? "none yet" : `${Math.round(load.cpu_percent)}% of ${cores}`;
  const ram = load.rss_mb === null || load.rss_mb === undefined ? "none" : mb(load.rss_mb);
  return `CPU ${cpu}, RAM ${ram}`;
}

export function describeGpu(gpu) {
  if (!gpu) return "GPU: none (training on the CPU)";
  const util = gpu.util_percent === null || gpu.util_percent === undefined ? "utilisation none" : `${Math.round(gpu.util_percent)}% busy`;
  return `GPU ${gpu.name}: ${util}, ${mb(gpu.mem_used_mb)} of ${mb(gpu.mem_total_mb)}`;
}

export function createStatus(root) {
  root.classList.add("status-widget");
  root.setAttribute("role", "status");
  root.innerHTML = MARKUP;
  const el = (c) => root.querySelector(c);
  const activity = el(".st-activity"), speed = el(".st-speed"), trainerLoad = el(".st-trainer-load");
  const gpuEl = el(".st-gpu"), serverLoad = el(".st-server-load");
  const state = { connected: false, status: null, server: null, visible: true };
  let scheduled = false;

  function draw() {
    scheduled = false;
    if (!state.visible) return;
    const s = state.connected ? state.status : null;
    if (!s) {
      activity.textContent = state.connected ? "connected, no status yet" : "offline";
      speed.textContent = "";
      trainerLoad.textContent = "";
      gpuEl.textContent = "";
    } else {
      activity.textContent = s.state === "training" && s.activity ? ACTIVITY[s.activity] : s.state;
      const sps = s.samples_per_s === null || s.samples_per_s === undefined ? "none" : Math.round(s.samples_per_s).toLocaleString("en-US");
      speed.textContent = `update ${s.update.toLocaleString("en-US")}, ${sps} samples/s`;
      trainerLoad.textContent = describeLoad(s.load);
      gpuEl.textContent = describeGpu(s.gpu);
    }
    const v = state.server;
    serverLoad.textContent = v ? `${describeLoad(v)}, ${v.viewers} viewer${v.viewers === 1 ? "" : "s"}` : "none yet";
  }

  function schedule() {
    if (!scheduled) { scheduled = true; scheduleDraw(draw); }
  }

  return {
    state,
    fromSnapshot(metrics, snapshot) {
      state.connected = snapshot.trainer.connected;
      state.status = snapshot.status || null;
      state.server = snapshot.server || null;
      schedule();
    },
    onTrainerStatus(d) { state.connected = d.connected; if (!d.connected) state.status = null; schedule(); },
    onStatus(d) { state.connected = true; state.status = d; schedule(); },
    onServerLoad(d) { state.server = d; schedule(); },
    setVisible(v) { state.visible = v; if (v) schedule(); },
  };
}
