// Agents: this dashboard lands with the next slice of the dashboards.

import { h, fill } from "../dom.js";
import { empty, mount } from "../layout.js";

const main = mount("agents");
fill(main, h("h1", {}, "Agents"), empty("this dashboard lands next"));
document.body.dataset.ready = "true";
