// Each OpenStack activity as a step calls it, with the plan lines its request reads as: the API call the
// worker makes and the `openstack` command an SRE would type for it. One line-maker per activity, and
// each reads nothing but the request, so a plan cannot say something other than what runs.
import { activity, type ActivityCall } from '../engine/runbook.js';
import type { ActivityRequest } from '../engine/steps.js';
import { IMAGE_DEAD } from './rules.js';

type CloudActivity =
  | 'openstackServer'
  | 'openstackServersNamed'
  | 'openstackImage'
  | 'openstackImagesNamed'
  | 'openstackCreateImage'
  | 'openstackWaitImage'
  | 'openstackRebuild'
  | 'openstackStopServer'
  | 'openstackWaitServer'
  | 'openstackCreateServer'
  | 'openstackDeleteServer'
  | 'openstackImageWorkspace'
  | 'openstackDownloadImage'
  | 'openstackUploadImage'
  | 'openstackWaitDnsGone';

const SHOWS: { [K in CloudActivity]: (r: ActivityRequest<K>) => string[] } = {
  openstackServer: (r) => [`nova GET /servers/${r.server} (cloud ${r.cloud})   # = openstack server show ${r.server}`],
  openstackServersNamed: (r) => [`nova GET /servers/detail?name=^${r.name}$ (cloud ${r.cloud})   # = openstack server list --name ^${r.name}$`],
  openstackImage: (r) => [`glance GET /v2/images/${r.image} (cloud ${r.cloud})   # = openstack image show ${r.image}`],
  openstackImagesNamed: (r) => [`glance GET /v2/images?name=${r.name} (cloud ${r.cloud})   # = openstack image list --name ${r.name}`],
  openstackCreateImage: (r) => [
    `nova POST /servers/${r.serverId}/action {"createImage": {"name": "${r.name}", "metadata": {"runbook_workflow_id": "${r.workflowId}"}}} (cloud ${r.cloud})` +
      `   # = openstack server image create --name ${r.name} ${r.serverId}`,
  ],
  openstackWaitImage: (r) => [`glance GET /v2/images/${r.imageId} (cloud ${r.cloud}) until active; ${IMAGE_DEAD.join(', ')} fail`],
  openstackRebuild: (r) => [
    `nova POST /servers/${r.serverId}/action {"rebuild": {"imageRef": "${r.imageId}"}} (cloud ${r.cloud})   # = openstack server rebuild --image ${r.imageId} ${r.serverId}`,
  ],
  openstackStopServer: (r) => [
    `nova POST /servers/${r.serverId}/action {"os-stop": null} (cloud ${r.cloud}), then until SHUTOFF   # = openstack server stop ${r.serverId}`,
  ],
  openstackWaitServer: (r) => [
    `nova GET /servers/${r.serverId} (cloud ${r.cloud}) until ${r.until} with no task${r.imageId ? ` on image ${r.imageId}` : ''}; ERROR fails`,
  ],
  openstackCreateServer: (r) => [
    `nova POST /servers (cloud ${r.cloud})   # = openstack server create --flavor ${r.flavor} --image ${r.imageId}` +
      `${r.keyName ? ` --key-name ${r.keyName}` : ''}${r.network ? ` --network ${r.network}` : ''} --property runbook_workflow_id=${r.workflowId} ${r.name}`,
  ],
  openstackDeleteServer: (r) => [
    `nova DELETE /servers/${r.serverId} (cloud ${r.cloud}) if it is still named ${r.name}, then until it is gone   # = openstack server delete ${r.serverId}`,
  ],
  openstackImageWorkspace: (r) => [`worker config: openstack.imageDir, openstack.sysprep; this run's directory ${r.workflowId} on image host ${r.host}`],
  openstackDownloadImage: (r) => [
    `glance GET /v2/images/${r.imageId}/file (cloud ${r.cloud}) → ${r.host}:${r.path}, md5 and sha512 checked against glance   # = openstack image save --file ${r.path} ${r.imageId}`,
  ],
  openstackUploadImage: (r) => [
    `${r.host}:${r.path} → glance POST /v2/images + PUT /file (cloud ${r.cloud})   # = openstack image create ${r.name} --disk-format qcow2 --container-format bare` +
      Object.entries({ ...r.properties, runbook_workflow_id: r.workflowId })
        .map(([k, v]) => ` --property ${k}=${v}`)
        .join('') +
      ` --file ${r.path}`,
  ],
  openstackWaitDnsGone: (r) => [`resolver lookup of ${r.name} (A) until NXDOMAIN, bounded by openstack.dns.timeoutSeconds   # = host ${r.name}`],
};

/** The call of a cloud activity with `request`, shown by its activity's line-maker. */
export function cloudCall<K extends CloudActivity>(name: K, request: ActivityRequest<K>): ActivityCall<K> {
  return activity(name, request, SHOWS[name]);
}
