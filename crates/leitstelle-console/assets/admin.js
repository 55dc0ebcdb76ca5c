// admin pages.
"use strict";
