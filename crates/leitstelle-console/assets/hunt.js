// hunt pages.
"use strict";
