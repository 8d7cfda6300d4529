import { runConformance } from './conformance/cases.js';
import { ftpDriver } from './conformance/drivers.js';

runConformance(ftpDriver([32000, 32049]));
