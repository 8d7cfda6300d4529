import { runConformance } from './conformance/cases.js';
import { ftpDriver } from './conformance/drivers.js';
import { passivePorts } from '../helpers/passive-ports.js';

runConformance(ftpDriver(await passivePorts()));
