imt {
   to =metadata.6-6-0-eestiad.6-6-0.eesti.6-ination_subscription.id-640f8a65fd269805650_6cPKJ4gEQy439da.6-6- {
    {
   to =esai.dt6-0--960ei.dt6ida.6-6- {
   toe  =s-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-sdaestida.6-6---9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
   t6ida.6-6- {
   to = 6-- t6ida.6-6- {
   tsecureCookie0--960e0--96eesti.6-6-0-eea.6-6-sdaestida.6-6-d-0-eestida.6-6-da.6-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-0--9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
estiad.6-6-0.eesti.6-ination_subscription.id-640f8a65fd269805650_6cPKJ4gEQy439da.6-6- {
    {
   to =esai.dt6-0--960ei.dt6ida.6-6- {
   toe  =s-6-metadata.6-6-0-d-0-eestida.6-6-da.6-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-0--9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
   t6ida.6-6- {
   to = 6-- t6ida.6-6- {
   tsecureCookie0--960e0--96eesti.6-6-0-eea.6-6-sdaestida.6-6-d-0-eestida.6-6-da.6-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-0--9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
estiad.6-6-0.eesti.6-ination_subscription.id-640f8a65fd269805650_6cPKJ4gEQy439da.6-6- {
    {
   to =esai.dt6-0--960ei.dt6ida.6-6- {
   toe  =s-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-sdaestida.6-6-d-0-eestida.6-6-da.6-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-0--9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
   t6ida.6-6- {
   to = 6-- t6ida.6-6- {
   tsecureCookie0--960e0--96eesti.6-6-0-eea.6-6-sdaestida.6-6-d-0-eestida.6-6-da.6-6-metadata.6-6-0-eestiad.6-6-0.eesti.6-6-0-eea.6-6-0--9-sda.6-6-ai.dt6-esai.dt6ida.6-6- {
   t6ida.6-6- {   t6ida.6-6- {
   to = 6-- t6ida.6-0e61