// Every `ufs` command module, imported for its registrations. Add a line here for a new command
// file (mount, pull, push, image import/save/export/load...).
import './cmd-info.js';
import './cmd-image.js';
import './cmd-layer.js';
import './cmd-container.js';
import './cmd-system.js';
import './cmd-transfer.js';
import './mount.js';
