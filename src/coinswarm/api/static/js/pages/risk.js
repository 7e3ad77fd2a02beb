// Risk: this dashboard lands with the next slice of the dashboards.

import { h, fill } from "../dom.js";
import { empty, mount } from "../layout.js";

const main = mount("risk");
fill(main, h("h1", {}, "Risk"), empty("this dashboard lands next"));
document.body.dataset.ready = "true";
