// cases pages.
"use strict";
