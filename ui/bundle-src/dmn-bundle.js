// The DMN editor bundle: dmn-js's modeler, built for production (dmn-js's own dist
// "production" file ships Inferno's development build, which warns in the console).
// Built by scripts/vendor-ui.sh into ui/static/vendor/retention-modeler/ (global DmnJS).
import DmnModeler from "dmn-js/lib/Modeler";

export default DmnModeler;
