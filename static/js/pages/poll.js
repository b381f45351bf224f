// /overlay/poll: the poll widget on its own.
import { runPage } from "./run.js";
import { createPoll } from "../widgets/poll.js";

runPage([createPoll(document.getElementById("poll-widget"))]);
