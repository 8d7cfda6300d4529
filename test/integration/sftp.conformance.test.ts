import { runConformance } from './conformance/cases.js';
import { sftpDriver } from './conformance/drivers.js';

runConformance(sftpDriver);
