// dashboard pages.
"use strict";
