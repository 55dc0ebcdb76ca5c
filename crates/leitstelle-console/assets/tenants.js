// tenants pages.
"use strict";
